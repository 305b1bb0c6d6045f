"""Named behavioural faults the sandbox can be started with: one registry, :class:`Fault`.

A fault makes the platform really misbehave in one way, so that the project's
tests can show that a check fails when the behaviour it verifies breaks. A
fault is named for the behaviour it breaks, never for a clause id.

Code asks whether a fault is active through the registry
(``Fault.QUOTA_NOT_ENFORCED in faults``), so a misspelt fault is an
attribute error (and a mypy error), never a fault that silently never fires.
Each member is a ``str`` equal to its name (``"quota_not_enforced"``), the
name users give to ``--sca-sandbox-fault`` and to a target file's
``sandbox.faults``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable


class Fault(str, enum.Enum):
    """One fault: its value is its name; :attr:`description` is the behaviour it breaks."""

    _value_: str
    description: str

    def __new__(cls, name: str, description: str) -> Fault:
        member = str.__new__(cls, name)
        member._value_ = name
        member.description = description
        return member

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    # model development: dev machines, job tooling, pre-flight checks, console, errors
    DEVMACHINE_WITHOUT_ACCELERATORS = (
        "devmachine_without_accelerators",
        "dev machines start without the accelerators they requested (none visible inside)",
    )
    DEVMACHINE_WITHOUT_DOCKER = (
        "devmachine_without_docker",
        "dev machines have no working docker-compatible CLI",
    )
    DEVMACHINE_IMAGE_SUBSTITUTED = (
        "devmachine_image_substituted",
        "a dev machine runs another preset image than the one asked for, which its record "
        "still names; nothing inside names the image (no JUPYTER_IMAGE)",
    )
    PORT_FORWARD_BROKEN = (
        "port_forward_broken",
        "a dev machine's exposed URL forwards to a port nobody listens on",
    )
    FRAMEWORKS_PYTORCH_ONLY = (
        "frameworks_pytorch_only",
        "the framework catalogue offers PyTorch and nothing else",
    )
    TENSORFLOW_IMAGE_WITHOUT_TENSORFLOW = (
        "tensorflow_image_without_tensorflow",
        "the framework catalogue offers TensorFlow for distributed jobs, but its preset image "
        "has no TensorFlow installed (its build dropped the framework)",
    )
    JOB_STOP_IGNORED = (
        "job_stop_ignored",
        "stopping a job answers success but its processes keep running",
    )
    JOB_EVENTS_DROPPED = ("job_events_dropped", "the job events API answers an empty list")
    JOB_METRICS_NOT_RECORDED = (
        "job_metrics_not_recorded",
        "no time series is recorded for running jobs",
    )
    JOB_CPU_SERIES_IN_MICROSECONDS = (
        "job_cpu_series_in_microseconds",
        "a job's cpu_seconds series carries the cgroup's usage_usec counter unconverted "
        "(microseconds labelled seconds)",
    )
    JOB_CPU_SERIES_OF_IDLE_CONTAINER = (
        "job_cpu_series_of_idle_container",
        "a job's cpu_seconds series counts an idle companion container's CPU (a thousandth "
        "of the worker's), not the worker's",
    )
    TERMINAL_UNAVAILABLE = ("terminal_unavailable", "web terminals close before running anything")
    JOBS_CANNOT_REACH_STORAGE = (
        "jobs_cannot_reach_storage",
        "job workers cannot reach the object storage (broken egress)",
    )
    PREFLIGHT_IGNORES_FAULTY_NODE = (
        "preflight_ignores_faulty_node",
        "pre-flight reports a node marked faulty as healthy and the scheduler places work on it",
    )
    WEB_CONSOLE_MISSING = ("web_console_missing", "the web console page is gone (404)")
    ERRORS_LEAK_STACKTRACE = (
        "errors_leak_stacktrace",
        "malformed requests answer 500 with a Python traceback",
    )
    ERRORS_LEAK_INTERNALS = (
        "errors_leak_internals",
        "4xx error messages name the server's source files and internal host:port",
    )
    FRAMEWORK_ENV_INCOMPLETE = (
        "framework_env_incomplete",
        "job workers lack LOCAL_RANK, which the framework catalogue says PyTorch workers get",
    )
    STOPPED_JOBS_KEEP_RUNNING = (
        "stopped_jobs_keep_running",
        "a stopped job is shown stopped while its processes keep running",
    )
    PREFLIGHT_FLAGS_EVERY_NODE = (
        "preflight_flags_every_node",
        "pre-flight reports every node unhealthy and none eligible, marked faulty or not",
    )
    JOB_CLOCK_BEHIND = (
        "job_clock_behind",
        "job records and their events carry times from a clock an hour behind",
    )

    # model services: inference, model management, deployment, fine-tuning, usage
    MODEL_LIST_EMPTY = (
        "model_list_empty",
        "GET /v1/models lists no model although the models answer",
    )
    API_DESCRIPTION_OMITS_JOBS = (
        "api_description_omits_jobs",
        "the published OpenAPI document leaves out the job routes (/api/v1/jobs…), which the "
        "platform serves",
    )
    MODEL_INFO_MISSING = (
        "model_info_missing",
        "models carry no parameter count, context length or licence",
    )
    CHAT_HISTORY_DROPPED = (
        "chat_history_dropped",
        "chat completions see only the last user message",
    )
    STREAM_NOT_TERMINATED = (
        "stream_not_terminated",
        "streamed completions end without the data: [DONE] line",
    )
    FINETUNE_FAILS = ("finetune_fails", "fine-tuning jobs end failed without training")
    FINETUNED_MODEL_NOT_SERVED = (
        "finetuned_model_not_served",
        "fine-tuned models are listed but answer 404",
    )
    MODEL_IMPORT_NOT_LISTED = (
        "model_import_not_listed",
        "imported models are created but never listed",
    )
    MODEL_METADATA_NOT_UPDATED = (
        "model_metadata_not_updated",
        "model metadata updates are accepted and ignored",
    )
    IMPORTED_MODEL_NOT_DEPLOYABLE = (
        "imported_model_not_deployable",
        "deployments of imported models end failed",
    )
    DEPLOYMENT_FAILS_TO_START = (
        "deployment_fails_to_start",
        "deployments end failed instead of serving",
    )
    DEPLOYMENT_ENDPOINT_DOWN = (
        "deployment_endpoint_down",
        "a running deployment's OpenAI endpoint answers 503",
    )
    DEPLOYMENT_SCALE_IGNORED = (
        "deployment_scale_ignored",
        "scaling a deployment is accepted but replicas do not change",
    )
    USAGE_TOKENS_UNDERCOUNTED = (
        "usage_tokens_undercounted",
        "usage records count one completion token less than answered",
    )
    USAGE_FILTERS_IGNORED = (
        "usage_filters_ignored",
        "the model usage query ignores its model and user filters",
    )
    CATALOGUE_CONTEXT_LENGTH_OVERSTATED = (
        "catalogue_context_length_overstated",
        "the model catalogue states four times the context length the inference API serves "
        "(and states in its GET /v1/models) and completions allow",
    )
    CATALOGUE_SIZE_OVERSTATED = (
        "catalogue_size_overstated",
        "the model catalogue states ten times the parameters the models' weights hold (as if "
        "a 0.7B model were listed as 7B)",
    )
    MODEL_LICENCE_UNKNOWN = (
        "model_licence_unknown",
        "preset models state their licence as 'unknown'",
    )
    MODEL_DELETE_IGNORED = (
        "model_delete_ignored",
        "deleting a model answers success and removes nothing",
    )
    STREAM_USAGE_WRONG = (
        "stream_usage_wrong",
        "the usage chunk of a streamed completion counts no completion tokens",
    )
    FINETUNE_LOSS_FLAT = (
        "finetune_loss_flat",
        "fine-tuning jobs succeed without learning: the loss never moves from its first value",
    )
    FINETUNE_TRAINS_SAMPLE_FILE = (
        "finetune_trains_sample_file",
        "fine-tuning jobs train on the platform's sample dataset, not the file they were given, "
        "and report that file as their training file (the loss still goes down)",
    )
    FINETUNED_MODEL_SERVES_BASE = (
        "finetuned_model_serves_base",
        "a fine-tuned model's id answers with its base model, unchanged",
    )
    DEPLOYMENT_RESOURCES_IGNORED = (
        "deployment_resources_ignored",
        "deployments run with the default resources whatever resources were chosen",
    )
    DEPLOYMENT_REPLICAS_DEFAULT_SIZED = (
        "deployment_replicas_default_sized",
        "a deployment records the resources chosen for it, but its replicas are started from "
        "the model server's default template: the default CPU and memory, and one card",
    )
    DEPLOYMENT_REPLICAS_NOT_READY = (
        "deployment_replicas_not_ready",
        "a scaled deployment reports the new replica count but its added replicas never "
        "become ready",
    )
    MODEL_USAGE_SUMMARY_STALE = (
        "model_usage_summary_stale",
        "the model usage summary is aggregated once a minute: it leaves out calls its lines "
        "already list",
    )
    TEMPERATURE_IGNORED = (
        "temperature_ignored",
        "completions are sampled at temperature 2 with a fresh seed, whatever temperature is "
        "asked",
    )
    MAX_TOKENS_NOT_APPLIED = (
        "max_tokens_not_applied",
        "max_tokens caps the completion_tokens reported, not the text: the answer runs on",
    )
    MODEL_LIST_TRUNCATED = (
        "model_list_truncated",
        "GET /v1/models lists only its first model although the others answer",
    )
    DEPLOYMENT_ROUTES_TO_FIRST_REPLICA = (
        "deployment_routes_to_first_replica",
        "a scaled deployment lists its added replicas ready, but its endpoint sends every "
        "request to the first replica",
    )
    IMPORTED_MODEL_SERVES_PRESET = (
        "imported_model_serves_preset",
        "an imported model's id answers with a preset model, not the imported artefact",
    )

    # tenant network isolation
    NETWORK_ISOLATION_OFF = (
        "network_isolation_off",
        "tenant networks share one bridge segment without isolation: a job of one tenant "
        "reaches the services of another",
    )

    # performance and operations: slow or unstable jobs, API, diagnosis, monitoring
    THROTTLED_NODES = (
        "throttled_nodes",
        "running jobs get 3 ms of every 200 ms (paused in between): 10-60x slower",
    )
    NOISY_NEIGHBOUR = (
        "noisy_neighbour",
        "running jobs are paused 0.3-0.6 s at random after every 0.05-0.15 s of running",
    )
    SUBTASKS_SERIALISED = (
        "subtasks_serialised",
        "a tenant's parallel jobs run one at a time (the others held paused)",
    )
    JOBS_INTERRUPTED = ("jobs_interrupted", "a running job is killed by the platform after 1 s")
    API_UNSTABLE = ("api_unstable", "the management API answers 503 for 1.2 s of every 3 s")
    DIAGNOSIS_SLOW = ("diagnosis_slow", "every diagnosis takes 30 s")
    TOPOLOGY_WRONG = (
        "topology_wrong",
        "a job's topology shows the neighbouring node and shifted card indices",
    )
    STALE_METRICS = (
        "stale_metrics",
        "the exporters of every 25th fleet node stopped sampling 15 min ago",
    )
    API_DROPS_REQUESTS = (
        "api_drops_requests",
        "the management API answers 503 to one request in 25 (a client that retries hides it)",
    )
    STALE_SAMPLES_REPORTED_FRESH = (
        "stale_samples_reported_fresh",
        "every 25th fleet node's samples stopped 15 min ago but its last_sample_at says now",
    )
    DIAGNOSIS_INCONCLUSIVE = (
        "diagnosis_inconclusive",
        "layer diagnoses finish with the verdict unknown",
    )
    DIAGNOSIS_DURATION_MISREPORTED = (
        "diagnosis_duration_misreported",
        "layer diagnoses report their duration in milliseconds in duration_s",
    )
    STARTUP_LATENCY_MISREPORTED = (
        "startup_latency_misreported",
        "jobs wait 1.5 s before they start but report started_at equal to created_at",
    )
    TOPOLOGY_LINKS_MISSING = (
        "topology_links_missing",
        "a job's topology lists its nodes and cards without any link between them",
    )
    JOBS_RESTARTED_SILENTLY = (
        "jobs_restarted_silently",
        "a running job's processes are killed once it reports progress and started again, "
        "reported as one uninterrupted attempt",
    )
    MULTI_WORKER_JOBS_THROTTLED = (
        "multi_worker_jobs_throttled",
        "the workers of a multi-worker job get 3 ms of every 200 ms (paused in between): a job "
        "runs slower on 2 workers than on 1",
    )
    DIAGNOSIS_OF_NEIGHBOUR_NODE = (
        "diagnosis_of_neighbour_node",
        "a node's layer diagnosis examines, and names, the neighbouring node instead",
    )

    # the platform core: tenancy, quotas, jobs, metering, audit
    QUOTA_NOT_ENFORCED = ("quota_not_enforced", "jobs above the tenant quota are admitted")
    CROSS_TENANT_READ = (
        "cross_tenant_read",
        "a tenant's key can read/list other tenants' jobs, users, logs",
    )
    CROSS_TENANT_WRITE = (
        "cross_tenant_write",
        "a tenant's key can stop, restart and delete other tenants' jobs",
    )
    LOGS_DROPPED = ("logs_dropped", "the job logs API returns empty text")
    USAGE_NOT_METERED = ("usage_not_metered", "no usage records are written for jobs")
    USAGE_OVERMETERED = (
        "usage_overmetered",
        "usage records meter each worker for twice the time it really ran",
    )
    AUDIT_LOG_OFF = ("audit_log_off", "mutations are not recorded in the audit log")
    READONLY_ROLE_CAN_WRITE = ("readonly_role_can_write", "the readonly role may POST/PUT/DELETE")
    CAPACITY_NOT_CHECKED = (
        "capacity_not_checked",
        "jobs are placed on nodes without free accelerators",
    )
    QUOTA_ENFORCED_AFTER_PLACEMENT = (
        "quota_enforced_after_placement",
        "jobs above the tenant quota are admitted and placed on cards, then end failed with a "
        "start error that does not name the quota",
    )

    # inventory, allocation, images, monitoring and scheduling policy
    ACCELERATORS_UNMANAGED = (
        "accelerators_unmanaged",
        "nodes are listed without their accelerators",
    )
    DOMESTIC_VENDORS_UNMANAGED = (
        "domestic_vendors_unmanaged",
        "only Huawei and NVIDIA cards are managed; other vendors' nodes list no accelerators",
    )
    INVENTORY_HIDES_CARDS = (
        "inventory_hides_cards",
        "the inventory lists only the first half of bm-3's cards (its device plugin advertises "
        "4 of 8), while the node has all 8 and its exporter reports them",
    )
    DOMESTIC_CARDS_UNSCHEDULABLE = (
        "domestic_cards_unschedulable",
        "Cambricon cards are listed and placed on, but every job placed on them fails at start "
        "(the node's driver cannot open the device)",
    )
    VISIBLE_DEVICES_UNISOLATED = (
        "visible_devices_unisolated",
        "a job sees every card of its node, not the ones it holds",
    )
    CARDS_NOT_RELEASED = (
        "cards_not_released",
        "cards stay allocated to a job after it ends or is deleted",
    )
    NEW_CLUSTERS_UNSCHEDULABLE = (
        "new_clusters_unschedulable",
        "clusters created on demand never take any work",
    )
    FILESYSTEM_NOT_SHARED = (
        "filesystem_not_shared",
        "each node mounts its own private directory as the shared file system",
    )
    PRESET_IMAGES_MISSING = (
        "preset_images_missing",
        "the image catalogue has no preset framework images",
    )
    REGISTRY_PUSH_LOST = (
        "registry_push_lost",
        "the image registry accepts a push but never stores the manifest",
    )
    LAYER_CACHE_OFF = (
        "layer_cache_off",
        "every image pull transfers every layer again (no node layer cache)",
    )
    LAYER_CACHE_HITS_MISREPORTED = (
        "layer_cache_hits_misreported",
        "a pull transfers the layers a node holds again, as long as the first time, yet "
        "reports them cached: no bytes and no time for them",
    )
    LAZY_PULL_TIME_MISREPORTED = (
        "lazy_pull_time_misreported",
        "a lazy pull transfers the whole image before the start, yet reports the bytes and "
        "time of its start set only",
    )
    LAZY_PULL_UNSUPPORTED = (
        "lazy_pull_unsupported",
        "a lazy pull transfers the whole image before the start",
    )
    ACCELERATOR_METRICS_MISSING = (
        "accelerator_metrics_missing",
        "/metrics has no per-card accelerator series",
    )
    NETWORK_LOAD_UNMONITORED = ("network_load_unmonitored", "/metrics has no node network series")
    LOAD_SERIES_ON_ONE_NODE = (
        "load_series_on_one_node",
        "the node exporter runs on the first node only (a DaemonSet the others' taints keep "
        "off): memory, disk and network series of that node alone",
    )
    MEMORY_LOAD_SCALED_TWICE = (
        "memory_load_scaled_twice",
        "node memory in use is exported 1024 times too large (/proc/meminfo's kB converted "
        "to bytes twice)",
    )
    ALERTS_NEVER_FIRE = ("alerts_never_fire", "alert rules are stored but never evaluated")
    DIAGNOSIS_REPORTS_NOTHING = (
        "diagnosis_reports_nothing",
        "one-click diagnosis answers without any component verdict",
    )
    ACCELERATOR_MODEL_IGNORED = (
        "accelerator_model_ignored",
        "the scheduler ignores the requested accelerator model",
    )
    PRIORITY_IGNORED = (
        "priority_ignored",
        "pending jobs start in submission order whatever their priority",
    )
    TOPOLOGY_IGNORED = (
        "topology_ignored",
        "multi-card workers get the lowest free indices across switch groups",
    )
    SINGLE_CLUSTER_SCHEDULING = (
        "single_cluster_scheduling",
        "the scheduler only places work on one cluster",
    )
    BURST_POLICY_ABSENT = (
        "burst_policy_absent",
        "the platform declares no burst (off-cloud to cloud) policy",
    )
    BURST_TARGET_UNKNOWN = (
        "burst_target_unknown",
        "a burst rule targets a cluster the platform does not have (a retired one the policy "
        "still names)",
    )
    PRESET_IMAGES_UNVERSIONED = (
        "preset_images_unversioned",
        "preset images name their framework but no version, and are tagged latest",
    )
    PRESET_IMAGE_FRAMEWORK_STALE = (
        "preset_image_framework_stale",
        "the PyTorch preset image carries torch 2.1.0, not the version its catalogue entry and "
        "tag state (the image was rebuilt from an old base, the catalogue not updated)",
    )
    EXPORTERS_STALLED = (
        "exporters_stalled",
        "/metrics serves the node and card samples its exporters took 15 min ago, unchanged",
    )
    CLUSTER_UNLABELLED_METRICS = (
        "cluster_unlabelled_metrics",
        "/metrics node series do not say which cluster their node is in",
    )
    DIAGNOSIS_SKIPS_NODES = (
        "diagnosis_skips_nodes",
        "one-click diagnosis reports only the first node of a cluster",
    )
    QUEUE_NEWEST_FIRST = (
        "queue_newest_first",
        "pending jobs start newest first whatever their priority",
    )
    WORKER_CARDS_UNRECORDED = (
        "worker_cards_unrecorded",
        "job records list no cards for their workers, although the workers hold and use them",
    )
    JOB_RECORD_CARDS_MISREPORTED = (
        "job_record_cards_misreported",
        "a worker is handed the lowest-numbered cards of its node that no other job holds, "
        "whatever cards the scheduler chose; the job record and the inventory list the "
        "scheduler's choice",
    )
    JOB_RECORD_NODES_MISREPORTED = (
        "job_record_nodes_misreported",
        "a worker is started on the next node of its cluster (the same card indices) instead "
        "of the node the scheduler reserved; the job record, and the job topology built from "
        "it, name the reserved node",
    )
    SCRATCH_FILESYSTEM_NOT_SHARED = (
        "scratch_filesystem_not_shared",
        "a second listed file system (scratch) is a private directory on each of its nodes",
    )
    DIAGNOSIS_NODE_HEALTH_INVERTED = (
        "diagnosis_node_health_inverted",
        "one-click diagnosis reports the health the scheduler sees inverted: healthy nodes "
        "as errors, faulty ones as ok",
    )
    CARD_SERIES_BLANK = (
        "card_series_blank",
        "the card exporters lost their devices: every card series serves the blank sentinel "
        "(as DCGM does) with a fresh timestamp, a constant far out of range",
    )
    NOTIFICATIONS_REPORT_THRESHOLD = (
        "notifications_report_threshold",
        "alert notifications give the rule's threshold as the value of every series that "
        "fired, not the sample's value",
    )
    NOTIFICATIONS_NAME_NO_SERIES = (
        "notifications_name_no_series",
        "alert notifications say which rule fired but neither the series (node) nor the value",
    )
    PENDING_REASON_VAGUE = (
        "pending_reason_vague",
        "a job no node can hold stays pending with the reason 'waiting for resources', naming "
        "no resource",
    )
    LAZY_PULL_SIZE_INFLATED = (
        "lazy_pull_size_inflated",
        "a lazy pull transfers the whole image and reports the image as twice its size, so the "
        "transfer looks partial",
    )
    LAZY_PULL_ON_FASTER_NODE = (
        "lazy_pull_on_faster_node",
        "a lazy pull transfers the whole image as a full one does, and the nodes' links differ: "
        "every node but the first pulls four times as fast, so a lazy start measured on another "
        "node than the full one looks faster",
    )

    # distributed training, serving, cluster scaling and operations
    RENDEZVOUS_BROKEN = (
        "rendezvous_broken",
        "each worker of a multi-worker job is given its own MASTER_PORT",
    )
    GANG_SCHEDULING_OFF = (
        "gang_scheduling_off",
        "a job that does not fit whole holds the cards of the workers that fit",
    )
    ELASTIC_RELAUNCH_OFF = (
        "elastic_relaunch_off",
        "a training job whose worker died is not relaunched",
    )
    CHECKPOINTS_NOT_CARRIED_OVER = (
        "checkpoints_not_carried_over",
        "a relaunched training job gets a fresh checkpoint location",
    )
    BOND_FAILOVER_OFF = (
        "bond_failover_off",
        "a NIC bond does not fail over: one member down takes the node offline",
    )
    BOND_STAYS_ON_DEAD_PORT = (
        "bond_stays_on_dead_port",
        "a NIC bond does not fail over when its active member goes down, yet the node's running "
        "jobs carry on (a one-node job needs no network)",
    )
    SERVICE_IGNORES_ACCELERATORS = (
        "service_ignores_accelerators",
        "service replicas are started without the requested cards",
    )
    LOAD_BALANCER_PINNED = (
        "load_balancer_pinned",
        "the service gateway sends every request to replica 0",
    )
    ACCELERATOR_SHARING_OFF = (
        "accelerator_sharing_off",
        "a request for a fraction of a card is given a whole card",
    )
    ACCELERATORS_HIDDEN_FROM_JOBS = (
        "accelerators_hidden_from_jobs",
        "job processes are not told which accelerators they hold",
    )
    JOB_CPUS_PINNED_TO_ONE = (
        "job_cpus_pinned_to_one",
        "a job's processes may run on one CPU, however many it asked for and was admitted with",
    )
    CLUSTER_SCALING_IGNORED = (
        "cluster_scaling_ignored",
        "scale-out and scale-in answer success but change no nodes",
    )
    ORDER_CANCEL_IGNORED = (
        "order_cancel_ignored",
        "cancelling an order answers success but the order stays active",
    )
    REPORT_WITHOUT_RECOMMENDATIONS = (
        "report_without_recommendations",
        "the resource analysis report carries no recommendations",
    )
    REPORT_ADVICE_NAMES_RETIRED_NODES = (
        "report_advice_names_retired_nodes",
        "the resource analysis report's recommendations come from an asset register that "
        "still lists nodes retired from the inventory: it advises draining nodes that do not "
        "exist",
    )
    REPORT_ADVICE_INVERTED = (
        "report_advice_inverted",
        "the resource analysis report's recommendations read the idle share as the allocated "
        "one: they advise adding capacity where cards are idle and releasing it where they "
        "are all held",
    )
    REPORT_ALLOCATION_STALE = (
        "report_allocation_stale",
        "the resource analysis report takes its allocation from a snapshot of the sandbox's "
        "start (a daily cache): cards held since are counted idle",
    )
    ORDERS_NOT_BILLED = ("orders_not_billed", "active orders are left out of the tenant's bill")
    SCALED_NODES_UNLISTED = (
        "scaled_nodes_unlisted",
        "scale-out records new nodes in the cluster, but the node inventory never lists them",
    )
    USAGE_BILLED_AT_STALE_PRICES = (
        "usage_billed_at_stale_prices",
        "bills price metered usage from a stale price list, not the product catalogue",
    )
    USAGE_BILLED_BY_STARTED_HOUR = (
        "usage_billed_by_started_hour",
        "bills charge every started hour of metered usage in full and give no usage quantity",
    )
    ACCELERATOR_USAGE_BILLED_TWICE = (
        "accelerator_usage_billed_twice",
        "bills list the metered accelerator usage twice, as two lines",
    )

    # platform security: node hardening, data protection, MFA, assets, transport, S3
    ROOT_PASSWORD_LOGIN = (
        "root_password_login",
        "SSH nodes let root log in with a password (PermitRootLogin yes)",
    )
    WORLD_WRITABLE_SYSTEM_FILE = (
        "world_writable_system_file",
        "a system file on the SSH nodes is writable by every user",
    )
    SSH_NODE_UNLISTED = (
        "ssh_node_unlisted",
        "the inventory lists a third node reachable over SSH (bm-3, whose root may log in "
        "with a password) that the sandbox's target file leaves out of adapters.ssh.nodes (a "
        "node added after the file was written)",
    )
    MASKING_OFF = ("masking_off", "the masked view of a dataset shows personal data in clear")
    MFA_NOT_ENFORCED = (
        "mfa_not_enforced",
        "console logins succeed without a second factor although MFA is required",
    )
    ASSET_RISK_NOT_ASSESSED = (
        "asset_risk_not_assessed",
        "the asset inventory gives every asset the risk status unknown",
    )
    TLS_LEGACY_ENABLED = (
        "tls_legacy_enabled",
        "the API and S3 endpoints also accept TLS 1.0 and 1.1 handshakes",
    )
    PLAIN_HTTP_OPEN = (
        "plain_http_open",
        "the API and S3 endpoints are served over plain HTTP, without TLS",
    )
    SSE_DISABLED = (
        "sse_disabled",
        "tenant buckets have no default encryption: objects are stored unencrypted",
    )
    SSE_REPORTED_NOT_APPLIED = (
        "sse_reported_not_applied",
        "tenant buckets have no default encryption, but the S3 endpoint reports every object "
        "read or HEADed as encrypted (x-amz-server-side-encryption: AES256)",
    )
    BUCKET_ENCRYPTION_NOT_IMPLEMENTED = (
        "bucket_encryption_not_implemented",
        "the S3 endpoint answers GetBucketEncryption 501 NotImplemented (as some S3-compatible "
        "stores do); objects are still encrypted by default",
    )
    PUBLIC_BUCKET = (
        "public_bucket",
        "tenant buckets carry a public-read bucket policy (anonymous GetObject)",
    )
    PRESIGNED_URLS_NEVER_EXPIRE = (
        "presigned_urls_never_expire",
        "the S3 gateway accepts presigned URLs after their expiry",
    )
    API_KEY_SECRET_NOT_CHECKED = (
        "api_key_secret_not_checked",
        "API keys are matched on their first 16 characters: a real key with a wrong secret "
        "is accepted",
    )
    AUTH_ERRORS_LEAK_INTERNALS = (
        "auth_errors_leak_internals",
        "refusals of a missing or bad API key name the server's source file, exception class "
        "and database address",
    )
    READONLY_STOP_CARRIED_OUT = (
        "readonly_stop_carried_out",
        "a read-only user's job stop is answered 403 but the job is stopped anyway",
    )
    MFA_LOCKS_CONSOLE_ACCOUNTS = (
        "mfa_locks_console_accounts",
        "requiring console MFA locks every account (403 account_locked) instead of asking for "
        "a second factor",
    )
    AUTH_ERRORS_UNENVELOPED = (
        "auth_errors_unenveloped",
        "refusals of a missing or bad API key answer a bare {\"detail\": …} body, outside the "
        "documented error envelope",
    )
    ASSETS_FILED_UNDER_PLATFORM = (
        "assets_filed_under_platform",
        "the asset inventory files every tenant's assets under the org unit platform, not the "
        "tenant's own",
    )
    AUDIT_CLOCK_SKEWED = (
        "audit_clock_skewed",
        "the audit log stamps its entries one hour late",
    )
    READONLY_SUBMIT_CARRIED_OUT = (
        "readonly_submit_carried_out",
        "a read-only user's job submission is answered 403 but the job is created anyway",
    )

    # workflow services: ComfyUI-compatible endpoint and workflow applications
    WORKFLOW_INVALID_JSON_ACCEPTED = (
        "workflow_invalid_json_accepted",
        "importing a workflow that is not valid JSON succeeds",
    )
    WORKFLOW_ENV_NOT_VALIDATED = (
        "workflow_env_not_validated",
        "environment validation reports every workflow available",
    )
    WORKFLOW_UNPUBLISH_IGNORED = (
        "workflow_unpublish_ignored",
        "an unpublished workflow can still be invoked",
    )
    WORKFLOW_DELETE_IGNORED = (
        "workflow_delete_ignored",
        "deleting a workflow answers success and removes nothing",
    )
    WORKFLOW_OUTPUTS_MISSING = (
        "workflow_outputs_missing",
        "trial runs succeed without producing an output image",
    )
    WORKFLOW_NODE_LOGS_MISSING = (
        "workflow_node_logs_missing",
        "run history carries no per-node information or logs",
    )
    WORKFLOW_SUBMIT_NO_TASK_ID = (
        "workflow_submit_no_task_id",
        "POST /prompt accepts a workflow but answers no prompt_id",
    )
    WORKFLOW_INPUTS_IGNORED = (
        "workflow_inputs_ignored",
        "LoadImage ignores the uploaded file and loads a blank image",
    )
    QUEUE_POSITION_MISSING = (
        "queue_position_missing",
        "queued workflow tasks report no queue position",
    )
    WORKFLOW_OUTPUT_CORRUPT = (
        "workflow_output_corrupt",
        "downloaded workflow outputs are truncated, not valid images",
    )
    WORKFLOW_USAGE_NOT_RECORDED = (
        "workflow_usage_not_recorded",
        "workflow runs are missing from the workflow usage statistics",
    )
    QUEUE_LISTING_STALE = (
        "queue_listing_stale",
        "GET /queue answers the listing of when the last prompt was queued until the queue is "
        "idle: finished prompts stay listed and positions do not move",
    )
    WORKFLOW_USAGE_DURATION_ZERO = (
        "workflow_usage_duration_zero",
        "workflow usage lists every run with a duration of 0 s",
    )
    WORKFLOW_USAGE_SUMMARY_STALE = (
        "workflow_usage_summary_stale",
        "the workflow usage summary is aggregated once a minute: it leaves out runs its lines "
        "already list",
    )
    WORKFLOW_INVOCATIONS_THROTTLED = (
        "workflow_invocations_throttled",
        "a workflow answers 429 to an invocation within 10 s of its previous one",
    )
    WORKFLOW_ENV_REASON_MISSING = (
        "workflow_env_reason_missing",
        "environment validation flags a workflow needing a missing node or model unavailable, "
        "but lists nothing missing",
    )

#: The faults a sandbox runs with.
Faults = frozenset[Fault]


def check_faults(names: Iterable[str]) -> tuple[Fault, ...]:
    """The faults ``names`` name, in order; ``ValueError`` naming the first unknown one."""
    known = {fault.value: fault for fault in Fault}
    checked = []
    for name in names:
        if name not in known:
            listing = ", ".join(sorted(known))
            raise ValueError(f"unknown sandbox fault {name!r}: known faults are {listing}")
        checked.append(known[name])
    return tuple(checked)
