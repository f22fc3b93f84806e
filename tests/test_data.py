import numpy as np
import pytest

from hwkit.data import load_dataset
from hwkit.errors import ConfigError


@pytest.mark.parametrize("name,shape,n_train,n_test", [
    ("digits", (1, 8, 8), 1437, 360),
    ("mnist", (1, 28, 28), 4000, 1000),
    ("mnist1d", (1, 40), 4000, 1000),
])
def test_bundled_datasets_load_offline_with_fixed_split(name, shape, n_train, n_test):
    d = load_dataset(name)
    assert d.in_shape == shape and d.num_classes == 10
    assert d.x_train.shape == (n_train,) + shape and d.x_test.shape == (n_test,) + shape
    assert d.x_train.dtype == np.float32 and 0.0 <= d.x_train.min() and d.x_train.max() <= 1.0
    assert set(np.unique(d.y_test)) == set(range(10))


def test_split_is_deterministic_and_disjoint():
    from hwkit.data import _digits

    a, b = _digits(), _digits()
    assert np.array_equal(a.x_test, b.x_test) and np.array_equal(a.y_train, b.y_train)
    train_rows = {row.tobytes() for row in a.x_train}
    # digits has a handful of duplicate images; a proper split leaves almost none shared
    assert sum(row.tobytes() in train_rows for row in a.x_test) < 5


def test_unknown_dataset_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown dataset 'cifar'"):
        load_dataset("cifar")
