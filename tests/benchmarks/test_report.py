"""docs/performance.md is what `python -m benchmarks --report` writes from benchmarks/results.json."""

from benchmarks.__main__ import RESULTS
from benchmarks.report import PERFORMANCE, performance_page, write_report
from model.store.files import read_json


def test_the_performance_page_is_written_from_the_results_file():
    assert PERFORMANCE.read_text() == performance_page(read_json(RESULTS))


def test_a_results_file_with_one_suite_gives_that_section_only(tmp_path):
    results = {
        "machine": {"cpu": "Test CPU", "cores": 2, "platform": "test"},
        "measured": "2026-12-03T00:00:00+00:00",
        "robustness_digits": 50,
        "sweep_seconds": 0.026,
        "adversarial_fgsm_p90_ms": 30.0,
        "adversarial_pgd_p90_ms": 102.0,
    }
    page = write_report(results, tmp_path / "performance.md").read_text()
    assert "Test CPU with 2 cores" in page and "on 2026-12-03" in page
    assert "## Robustness" in page and "| 30 / 102 ms |" in page
    assert "## Training" not in page and "## The app" not in page
