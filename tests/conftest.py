import os

import pytest
import torch

# Tests run many tiny operations: one thread avoids OpenMP start-up and spinning costs on a shared CPU.
torch.set_num_threads(int(os.environ.get("RNNKIT_TEST_THREADS", "1")))


@pytest.fixture
def unwritable(tmp_path):
    """An output folder that cannot be written: a read-only folder (mode 0o555), or, when the tests run as root
    (whom the mode does not stop), a folder path inside a regular file, which fails for root too."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        (tmp_path / "file.txt").write_text("not a folder\n")
        yield tmp_path / "file.txt" / "sub"
        return
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    yield folder
    folder.chmod(0o755)  # so that pytest can remove it


def _assert_one_error_line(result, *fragments):
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert all(fragment in lines[0] for fragment in fragments), result.output


@pytest.fixture
def user_error():
    """``user_error(result, *fragments)`` checks a CLI result is a user error: exit status 2, one line of output
    starting with 'error:' that holds each fragment (e.g. the option's name), and no traceback."""
    return _assert_one_error_line
