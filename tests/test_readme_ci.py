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


def test_readme_python_examples_run(tmp_path, monkeypatch, capsys) -> None:
    readme = (ROOT / "README.md").read_text()
    snippets = [p.split("```")[0] for p in readme.split("```python\n")[1:]]
    assert len(snippets) >= 2
    monkeypatch.chdir(tmp_path)
    for code in snippets:
        exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    lines = capsys.readouterr().out.splitlines()
    assert float(lines[0]) > 0.5  # hypervolume ratio of the NAS-Bench-201 example
    front = [line.split() for line in lines[1:]]  # the bit-width example: size, error, bits
    assert len(front) >= 3 and all(float(size) <= 60 for size, *_ in front)
    assert (tmp_path / "nb201.db").is_file() and (tmp_path / "bits.db").is_file()
