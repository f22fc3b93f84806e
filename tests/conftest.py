import os
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)
warnings.filterwarnings("ignore")


@pytest.fixture(scope="session")
def digits():
    from hwkit.data import load_dataset

    return load_dataset("digits")
