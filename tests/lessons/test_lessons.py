"""The lessons: valid definitions, every lesson in smoke mode in-process, one through mlflow run,
and the published tables (docs/lessons.md, the README) telling each lesson's story."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from mlflow.projects._project_spec import load_project

from mlflow_improvenn.cli import main
from mlflow_improvenn.lessons.catalog import LESSONS, SMOKE, TAG_LESSON
from mlflow_improvenn.lessons.report import lessons_markdown, parse_tables
from mlflow_improvenn.lessons.runner import RESULT_COLUMNS, run_lesson
from mlflow_improvenn.lessons.stories import Story
from mlflow_improvenn.training.options import format_value

ROOT = Path(__file__).resolve().parents[2]
PARENT_FILES = {"lesson/diagnosis.csv", "lesson/results.csv", "lesson/learning_curves.png",
                "lesson/bias_variance_map.png"}


@pytest.mark.parametrize("smoke", [False, True])
def test_every_variation_is_a_valid_config(smoke: bool) -> None:
    for lesson in LESSONS.values():
        configs = lesson.configs(smoke)
        assert list(configs) == [v.name for v in lesson.variations]
        assert len({c.to_params().__repr__() for c in configs.values()}) == len(configs)
        if smoke:
            assert all(c.max_epochs == SMOKE["max_epochs"] for c in configs.values())
        assert lesson.story.variations() <= set(configs), lesson.name


@pytest.mark.parametrize("name", list(LESSONS))
def test_each_project_names_its_lesson_and_a_valid_environment(name: str) -> None:
    folder = ROOT / "projects" / name
    project = load_project(str(folder))
    entry = project.get_entry_point("main")
    assert entry.parameters["smoke"].default == "false"
    assert f"lesson {name} --smoke {{smoke}}" in entry.command
    environment = yaml.safe_load((folder / "conda.yaml").read_text())
    pip = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict))
    assert "-e ../.." in pip and (folder / "../../pyproject.toml").resolve().is_file()


def _parent_and_children(parent_id: str) -> tuple[mlflow.entities.Run, pd.DataFrame]:
    children = mlflow.search_runs(search_all_experiments=True,
                                  filter_string=f"tags.mlflow.parentRunId = '{parent_id}'")
    return mlflow.MlflowClient().get_run(parent_id), children


TRAINING_LESSONS = [name for name, lesson in LESSONS.items() if lesson.fractions is None]


@pytest.mark.parametrize("name", TRAINING_LESSONS)
def test_lesson_runs_in_smoke_mode_with_its_comparison_on_the_parent(
    tracking_uri: str, name: str
) -> None:
    result = run_lesson(name, smoke=True, experiment="lessons")
    lesson = LESSONS[name]
    parent, children = _parent_and_children(result.parent_run_id)
    assert parent.info.status == "FINISHED" and parent.data.tags[TAG_LESSON] == name
    assert sorted(children["tags.improvenn.variation"]) == sorted(v.name for v in
                                                                  lesson.variations)
    assert children["tags.improvenn.diagnosis"].notna().all()
    table = result.table
    assert list(table.columns) == RESULT_COLUMNS and len(table) == len(lesson.variations)
    assert set(table["run_id"]) == set(children["run_id"])
    assert (table["stopped_epoch"] <= SMOKE["max_epochs"]).all()
    client = mlflow.MlflowClient()
    assert {a.path for a in client.list_artifacts(result.parent_run_id, "lesson")} == PARENT_FILES
    markdown = lessons_markdown([result], "## Results")
    assert f"### `{name}`" in markdown and markdown.count("\n| ") == len(table) + 2
    parsed = parse_tables(markdown)[name]  # what the published tables are checked on
    assert list(parsed["variation"]) == list(table["variation"])
    assert all(isinstance(p, str) for p in lesson.story.problems(parsed))


def test_learning_curve_lesson_runs_in_smoke_mode_a_curve_per_set_up(tracking_uri) -> None:
    lesson = LESSONS["learning_curve"]
    result = run_lesson("learning_curve", smoke=True, experiment="lessons")
    parent, curves = _parent_and_children(result.parent_run_id)
    assert parent.info.status == "FINISHED" and parent.data.tags[TAG_LESSON] == "learning_curve"
    assert sorted(curves["tags.improvenn.variation"]) == sorted(v.name for v in
                                                                lesson.variations)
    assert (curves["tags.improvenn.learning_curve"] == "true").all()
    for curve in curves["run_id"]:
        _, shares = _parent_and_children(curve)
        assert len(shares) == len(lesson.fractions) and (shares["status"] == "FINISHED").all()
    assert set(result.table["run_id"]) == set(curves["run_id"])
    assert result.table["verdict"].notna().all()
    client = mlflow.MlflowClient()
    assert [a.path for a in client.list_artifacts(result.parent_run_id, "lesson")] == [
        "lesson/results.csv"]
    markdown = lessons_markdown([result], "## Results")
    assert "learning curve says" in markdown
    assert markdown.count("\n| ") == len(lesson.variations) + 2


def test_project_runs_through_mlflow_run_in_smoke_mode(tracking_uri: str) -> None:
    args = [sys.executable, "-m", "mlflow", "run", str(ROOT / "projects" / "early_stopping"),
            "--env-manager", "local", "-P", "smoke=true"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    runs = mlflow.search_runs(search_all_experiments=True)
    parent = runs[runs["tags.mlflow.parentRunId"].isna()]
    assert len(parent) == 1 and parent["params.smoke"].iloc[0] == "true"
    assert (runs["status"] == "FINISHED").all()
    assert len(runs) == 1 + len(LESSONS["early_stopping"].variations)
    files = {a.path for a in mlflow.MlflowClient().list_artifacts(parent["run_id"].iloc[0],
                                                                  "lesson")}
    assert files == PARENT_FILES
    assert "patience=10" in done.stdout


def test_unknown_lesson_is_a_usage_error() -> None:
    done = CliRunner().invoke(main, ["lesson", "momentum"])
    assert done.exit_code == 2 and "bias_variance" in done.output


PUBLISHED = parse_tables((ROOT / "docs" / "lessons.md").read_text())


@pytest.mark.parametrize("name", TRAINING_LESSONS)
def test_published_table_is_the_catalogs_lesson_and_tells_its_story(name: str) -> None:
    """docs/lessons.md is regenerated whenever a lesson changes (same set-up, same runs), and
    its verdicts tell the story the catalog states."""
    lesson, table = LESSONS[name], PUBLISHED[name]
    section = (ROOT / "docs" / "lessons.md").read_text().split(f"### `{name}`")[1]
    setup = section.split("Set-up: ", 1)[1].split("\n", 1)[0]
    stale = [k for k, v in lesson.base.items() if f"`{k}={format_value(v)}`" not in setup]
    assert not stale, f"docs/lessons.md predates the set-up of {stale}: rerun the generator"
    assert list(table["variation"]) == [v.name for v in lesson.variations]
    assert lesson.story.problems(table) == []
    baseline = float(section.split("Baseline (Bayes error): ", 1)[1].split(".\n", 1)[0])
    at_bayes = table[table["train_error"] <= baseline + 0.02]  # the bias tolerance
    assert not at_bayes["diagnosis"].isin(["high_bias", "high_bias_and_variance"]).any()


def test_the_stories_say_what_the_brief_asks() -> None:
    stories = {name: lesson.story for name, lesson in LESSONS.items()}
    assert stories["bias_variance"].verdicts["tiny net, little data"] == ("high_bias",)
    assert stories["bias_variance"].verdicts["big net, little data"] == ("high_variance",)
    for name in ("l2_regularization", "dropout"):
        assert len(stories[name].shrinking_variance) >= 3
        assert any("high_variance" in allowed and "high_bias" not in allowed  # not told to grow
                   for allowed in stories[name].verdicts.values() if len(allowed) > 1)


_PLANTED = pd.DataFrame({
    "variation": ["none", "weak", "strong"], "diagnosis": ["high_variance", "inconclusive",
                                                           "good_fit"],
    "variance": [0.10, 0.05, 0.02], "variance_low": [0.06, 0.0, -0.03],
})


@pytest.mark.parametrize(("story", "changes", "expected"), [
    (Story({"none": ("high_variance",)}, ("none", "weak", "strong")), {}, []),
    (Story({"strong": ("high_bias",)}), {}, ["strong: verdict good_fit, the story needs "
                                             "high_bias"]),
    (Story(shrinking_variance=("none", "weak", "strong")), {("weak", "variance"): 0.11},
     ["variance rises from none (0.100) to weak (0.110)"]),
    (Story(shrinking_variance=("none", "strong")), {("strong", "variance"): 0.07},
     ["variance of strong (0.070) is not below the interval of none's (from 0.060): "
      "the shrinking is within noise"]),
    (Story({"more data": ("good_fit",)}), {}, ["no run for more data"]),
])
def test_a_story_fails_where_the_verdicts_contradict_it(
    story: Story, changes: dict, expected: list[str]
) -> None:
    table = _PLANTED.set_index("variation")
    for (row, column), value in changes.items():
        table.at[row, column] = value
    assert story.problems(table.reset_index()) == expected
