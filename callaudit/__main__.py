from callaudit.cli import app

app(prog_name="callaudit")
