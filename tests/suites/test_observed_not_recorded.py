"""What 6.5.f, 7.1.a and 8.1.b hold against what they observe rather than what a record says:
the pure comparisons, on answers written here (no platform)."""

from __future__ import annotations

import json
from typing import cast

import pytest

from pytest_sca.capabilities import ArtefactFile, Models, TargetError
from pytest_sca.suites.chapter06_scheduling.test_6_03_images import Pull
from pytest_sca.suites.chapter06_scheduling.test_6_05_scheduling import slower_lazy_start
from pytest_sca.suites.chapter07_development.test_7_01_devmachines import (
    content_differences,
    names_other_image,
)
from pytest_sca.suites.chapter08_application.test_8_01_preset import artefact_figures


def _pull(node: str, image: str, seconds: float, observed: float) -> Pull:
    return {"node_id": node, "image": image, "seconds": seconds, "observed_s": observed}


def test_a_lazy_start_under_half_the_full_one_on_its_node_passes() -> None:
    assert slower_lazy_start(_pull("n1", "a:1", 0.7, 0.72), _pull("n1", "b:1", 0.01, 0.03)) \
        is None


def test_a_lazy_start_as_long_as_the_full_one_names_the_node() -> None:
    why = slower_lazy_start(_pull("n1", "a:1", 0.7, 0.72), _pull("n1", "b:1", 0.6, 0.62))
    assert why is not None and why.startswith("on node n1 the lazy-pull start of b:1 took")


def test_a_lazy_start_the_clock_contradicts_is_named() -> None:
    why = slower_lazy_start(_pull("n1", "a:1", 0.7, 0.72), _pull("n1", "b:1", 0.01, 0.65))
    assert why is not None and "on the check's clock" in why


def test_image_references_with_registry_or_digest_name_the_image() -> None:
    image = "python:3.12-slim"
    for same in (image, "docker.io/library/python:3.12-slim", "python:3.12-slim@sha256:ab",
                 "docker.io/library/python@sha256:ab"):
        assert not names_other_image(same, image), same
    for other in ("python:3.11-slim", "mypython:3.12-slim", "ubuntu@sha256:ab"):
        assert names_other_image(other, image), other


def test_a_machine_may_carry_more_than_its_image_but_not_less() -> None:
    image = {"os": {"ID": "debian", "VERSION_ID": "12"}, "python": "3.12.7",
             "distributions": {"pip": "24.2", "torch": "2.5.1"}}
    more = {**image, "distributions": {"pip": "24.2", "torch": "2.5.1", "jupyterlab": "4.2"}}
    assert content_differences(image, more) == []
    other = {"os": {"ID": "ubuntu", "VERSION_ID": "22.04"}, "python": "3.12.7",
             "distributions": {"pip": "24.2", "mindspore": "2.4.0"}}
    assert content_differences(image, other) == [
        "os {'ID': 'ubuntu', 'VERSION_ID': '22.04'}, the image {'ID': 'debian', "
        "'VERSION_ID': '12'}",
        "torch None, the image '2.5.1'"]


class _Files:
    """A model's artefact as a platform would serve it (only what 8.1.b reads)."""

    def __init__(self, files: dict[str, str | int]) -> None:
        self.files = files

    def artefact_files(self, model_id: str) -> list[ArtefactFile]:
        return [{"path": path, "bytes": len(content) if isinstance(content, str) else content}
                for path, content in self.files.items()]

    def artefact_text(self, model_id: str, path: str) -> str:
        content = self.files[path]
        assert isinstance(content, str)
        return content


def test_parameters_come_from_the_weights_bytes_over_the_dtype_width() -> None:
    config = json.dumps({"max_position_embeddings": 32768, "torch_dtype": "bfloat16",
                         "rope_scaling": {"type": "yarn", "factor": 4.0}})
    index = json.dumps({"metadata": {"total_size": 15_231_233_024}, "weight_map": {}})
    models = cast(Models, _Files({"config.json": config, "model.safetensors.index.json": index,
                                  "model-00001-of-00004.safetensors": 4_000_000_000}))
    found = artefact_figures(models, "qwen2.5-7b")
    assert found["parameters"] == 7_615_616_512 and found["context_length"] == 131072


def test_a_quantized_model_states_no_parameter_count() -> None:
    config = json.dumps({"n_positions": 2048, "torch_dtype": "float16",
                         "quantization_config": {"bits": 4}})
    models = cast(Models, _Files({"config.json": config, "model.safetensors": 1_000_000}))
    found = artefact_figures(models, "gptq")
    assert found["parameters"] is None and found["context_length"] == 2048


def test_files_listed_without_sizes_are_an_error_not_a_pass() -> None:
    class Unsized(_Files):
        def artefact_files(self, model_id: str) -> list[ArtefactFile]:
            return [{"path": "model.safetensors"}]

    with pytest.raises(TargetError, match="without a path or a size"):
        artefact_figures(cast(Models, Unsized({})), "m")
