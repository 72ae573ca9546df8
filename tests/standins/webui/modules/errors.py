"""Stand-in of modules/errors.py: errors are printed and also kept for tests to inspect."""
import sys
import traceback

recorded = []  # (message, exception or None)


def report(message: str, *, exc_info: bool = False) -> None:
    exc = sys.exc_info()[1] if exc_info else None
    recorded.append((message, exc))
    print(f"*** {message}", file=sys.stderr)
    if exc_info:
        traceback.print_exc()


def display(e: Exception, task, *, full_traceback=False):
    recorded.append((f"Error {task}", e))
    print(f"{task or 'error'}: {type(e).__name__}: {e}", file=sys.stderr)


def display_once(e: Exception, task):
    display(e, task)


def run(code, task):
    try:
        code()
    except Exception as e:
        display(e, task)
