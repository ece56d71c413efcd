"""`lagosync validate` through click: output and exit codes."""

from __future__ import annotations

from click.testing import CliRunner

from lagosync.cli import main


def test_validate_example_workspace_exit_0(example_copy):
    result = CliRunner().invoke(main, ["validate", "-w", str(example_copy)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "ok: 24 objects in 6 files"


def test_validate_broken_copy_exit_1_all_errors_then_count(example_copy):
    plans = example_copy / "plans" / "plans.yaml"
    plans.write_text(plans.read_text().replace('amount: "0.001"', "amount: 0.001")
                     .replace("billable_metric_code: active_users", "billable_metric_code: active_user", 1))
    orgs = example_copy / "orgs.yaml"
    orgs.write_text(orgs.read_text().replace("plan_code: starter", "plan_code: startr"))
    result = CliRunner().invoke(main, ["validate", "--workspace", str(example_copy)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()  # CliRunner mixes stderr into output
    assert lines == [
        "orgs.yaml:37:20: orgs[2].subscriptions[0].plan_code: unknown plan 'startr' "
        "(did you mean 'starter'? otherwise define it under plans, or fix the code; Lago would answer "
        "plan_not_found)",
        'plans/plans.yaml:53:19: plans[2].charges[0].properties.amount: 0.001 is a number; '
        'write it as a decimal string "0.001" (Lago rejects numbers)',
        "plans/plans.yaml:94:31: plans[3].charges[2].billable_metric_code: unknown metric 'active_user' "
        "(did you mean 'active_users'? otherwise define it under billable_metrics, or fix the code)",
        "3 errors in the workspace",
    ]
    assert "Traceback" not in result.output


def test_validate_errors_go_to_stderr(example_copy):
    (example_copy / "plans" / "broken.yaml").write_text("add_ons: [\n")
    runner = CliRunner()
    result = runner.invoke(main, ["validate", "-w", str(example_copy)])
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == "1 error in the workspace"
    assert result.stderr.startswith("plans/broken.yaml:2:1: YAML syntax error")
    assert result.stdout == ""


def test_validate_missing_workspace_is_a_clean_error(tmp_path):
    result = CliRunner().invoke(main, ["validate", "-w", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert "workspace folder not found" in result.output and "Traceback" not in result.output


def test_validate_empty_folder_names_every_missing_piece(tmp_path):
    result = CliRunner().invoke(main, ["validate", "-w", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "lagosync.yaml:1:1: missing workspace settings file lagosync.yaml (create it, e.g. with "
        "`default_environment: local`, or pass the workspace folder with -w DIR)",
        "plans/:1:1: missing plans/ folder (create plans/ with YAML files declaring billable_metrics, plans, "
        "taxes, add_ons and coupons)",
        "2 errors in the workspace",
    ]


def test_validate_help():
    result = CliRunner().invoke(main, ["validate", "--help"])
    assert result.exit_code == 0 and "--workspace" in result.output


def test_version():
    from importlib.metadata import version

    import lagosync

    result = CliRunner().invoke(main, ["--version"], prog_name="lagosync")
    assert result.exit_code == 0
    assert result.output.strip() == f"lagosync, version {lagosync.__version__}"
    assert lagosync.__version__ == version("lagosync")  # the package metadata (pyproject.toml)


def _all_commands(group, prefix=()):
    import click

    for name, cmd in group.commands.items():
        yield prefix + (name,), cmd
        if isinstance(cmd, click.Group):
            yield from _all_commands(cmd, prefix + (name,))


def test_help_on_every_command():
    """Issue 2: `--help` on every command, groups and their sub-commands included."""
    commands = list(_all_commands(main))
    names = {" ".join(p) for p, _ in commands}
    assert {"validate", "plan", "apply", "show", "drift", "import", "doctor", "emulator", "ci"} <= names
    for path, cmd in [((), main), *commands]:
        for flag in ("--help", "-h"):
            result = CliRunner().invoke(main, [*path, flag], prog_name="lagosync")
            assert result.exit_code == 0, (path, flag, result.output)
            assert result.output.startswith("Usage: "), (path, result.output)
            assert " ".join(("lagosync", *path)) in result.output.splitlines()[0], path
            if cmd.help:
                first = cmd.help.strip().split()[0]
                assert first in result.output, (path, first)


def test_validate_refuses_customer_values_lago_refuses(example_copy):
    """Country and the customer enums fail in validate, with file:line and a suggestion, not mid-apply
    (lago-behaviour#customer-country, lago-behaviour#customer-enums)."""
    orgs = example_copy / "orgs.yaml"
    orgs.write_text(orgs.read_text().replace(
        "    name: Acme Corp\n",
        "    name: Acme Corp\n"
        "    country: fr\n"
        "    customer_type: compagny\n"
        "    finalize_zero_amount_invoice: skipp\n"
        "    shipping_address: {country: ZZ}\n"
        "    billing_configuration:\n"
        "      document_locale: pt-br\n"
        "      subscription_invoice_issuing_date_anchor: next_period_star\n", 1))
    result = CliRunner().invoke(main, ["validate", "-w", str(example_copy)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "orgs.yaml:7:14: orgs[0].country: 'fr' is not an ISO 3166-1 alpha-2 country code (did you mean 'FR'?)",
        "orgs.yaml:8:20: orgs[0].customer_type: 'compagny' is not a valid customer_type (did you mean 'company'?)",
        "orgs.yaml:9:35: orgs[0].finalize_zero_amount_invoice: 'skipp' is not a valid "
        "finalize_zero_amount_invoice (did you mean 'skip'?)",
        "orgs.yaml:10:33: orgs[0].shipping_address.country: 'ZZ' is not an ISO 3166-1 alpha-2 country code "
        "(write the two-letter ISO 3166-1 code in capitals, e.g. FR, DE, US, GB)",
        "orgs.yaml:12:24: orgs[0].billing_configuration.document_locale: 'pt-br' is not a valid document_locale "
        "(did you mean 'pt-BR'?)",
        "orgs.yaml:13:49: orgs[0].billing_configuration.subscription_invoice_issuing_date_anchor: "
        "'next_period_star' is not a valid subscription_invoice_issuing_date_anchor "
        "(did you mean 'next_period_start'?)",
        "6 errors in the workspace",
    ]


def test_validate_accepts_the_customer_values_lago_accepts(example_copy):
    orgs = example_copy / "orgs.yaml"
    orgs.write_text(orgs.read_text().replace(
        "    name: Acme Corp\n",
        "    name: Acme Corp\n"
        "    country: XK\n"
        "    customer_type: company\n"
        "    shipping_address: {country: GB}\n"
        "    billing_configuration:\n"
        "      document_locale: zh-TW\n"
        "      subscription_invoice_issuing_date_anchor: current_period_end\n"
        "      subscription_invoice_issuing_date_adjustment: keep_anchor\n", 1))
    result = CliRunner().invoke(main, ["validate", "-w", str(example_copy)])
    assert result.exit_code == 0, result.output
