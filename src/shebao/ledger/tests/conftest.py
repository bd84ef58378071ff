import pytest


@pytest.fixture(autouse=True)
def _drop_folders_anywhere(settings):
    """Tests put drop folders under tmp_path; the default root (INSTANCE_DIR/drop) is tested on its own."""
    settings.SHEBAO_DROP_FOLDER_ROOTS = None
