"""Property: any value of any training option trains for an epoch or is a usage error naming it."""

from __future__ import annotations

import mlflow
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlflow_improvenn.cli import main
from mlflow_improvenn.cli.train import flag
from mlflow_improvenn.training.options import option_specs

BASE = {"n_samples": "60", "max_epochs": "1", "hidden_units": "4", "log_model": "false"}

numbers = st.one_of(
    st.integers(-10, 300).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["0", "1", "-1", "0.5", "1e-9", "1e30", "nan", "inf"]),
)
lists = st.lists(numbers, min_size=0, max_size=4).map(",".join)
words = st.one_of(
    st.text(max_size=12),
    st.sampled_from([c for s in option_specs().values() for c in (s.choices or ())]),
)
values = st.one_of(numbers, lists, words)


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(option=st.sampled_from(sorted(option_specs())), value=values)
def test_any_value_trains_or_is_refused_naming_the_option(tracking_uri, option, value) -> None:
    args = {**BASE, option: value}
    # --option=VALUE: a boolean may stand bare, so click reads a following "-1" as the next
    # option, as it does for any flag with an optional value
    argv = ["train", "--quiet"] + [f"{flag(k)}={v}" for k, v in args.items()]
    runs_before = len(mlflow.search_runs(search_all_experiments=True))
    result = CliRunner().invoke(main, argv)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    if result.exit_code == 2:
        assert flag(option) in result.output or "'--" in result.output, result.output
        assert len(mlflow.search_runs(search_all_experiments=True)) == runs_before
    elif result.exit_code == 1:
        assert "non_finite_loss" in result.output, result.output
    else:
        assert result.exit_code == 0, result.output
