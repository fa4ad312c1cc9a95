"""The machine description every benchmark report carries."""

from __future__ import annotations

from pathlib import Path

from postroom.machine import cpu_features, cpu_generation, describe, one_line


def test_cpu_features_keeps_the_inference_flags_in_a_fixed_order(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu sse2 avx512_vnni avx2 amx_int8 fma ht\n\n"
        "processor\t: 1\nflags\t\t: fpu\n",
        encoding="utf-8",
    )
    assert cpu_features(cpuinfo) == ["avx2", "fma", "avx512_vnni", "amx_int8"]
    assert cpu_generation(cpuinfo) is None  # no family and model lines


def test_cpu_generation_reads_family_and_model_not_model_name(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("cpu family\t: 26\nmodel\t\t: 2\nmodel name\t: AMD EPYC\n", encoding="utf-8")
    assert cpu_generation(cpuinfo) == "family 26 model 2"


def test_cpu_features_of_a_machine_without_cpuinfo_is_empty(tmp_path: Path) -> None:
    assert cpu_features(tmp_path / "missing") == []


def test_one_line_names_cpu_features_cores_and_memory() -> None:
    info = {"cpu": "AMD EPYC", "cpu_features": ["avx2"], "cores_usable": 2, "memory": "24 GiB"}
    assert one_line(info) == "AMD EPYC (avx2), 2 usable cores, 24 GiB"
    assert one_line({"cpu": "X", "cpu_features": [], "cores_usable": 1}) == "X (no AVX2), 1 usable cores"
    with_generation = {"cpu": "AMD EPYC", "cpu_generation": "family 26 model 2", "cpu_features": ["avx2"]}
    assert one_line({**with_generation, "cores_usable": 2}).startswith("AMD EPYC, family 26 model 2 (avx2)")


def test_describe_reads_this_machine() -> None:
    info = describe()
    assert info["cpu"] and info["cores_usable"] >= 1 and isinstance(info["cpu_features"], list)
