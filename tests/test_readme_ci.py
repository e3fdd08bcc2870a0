"""CI runs the README's test command verbatim."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _blocks(text: str) -> list[str]:
    parts = text.split("```bash\n")[1:]
    return [p.split("```")[0].strip() for p in parts]


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = _blocks(readme.split("## Set-up: two commands")[1].split("\n## ")[0])
    assert len(blocks) == 2, "README must give exactly two set-up commands"
    main_cmd, test_cmd = blocks
    assert "paretoforge run studies/" in main_cmd and "pytest" in test_cmd
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_cmd in ci
    study = main_cmd.split("paretoforge run ")[1].split()[0]
    assert (ROOT / study).is_file()
