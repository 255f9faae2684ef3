"""The shared validation module (amemory.validate): its helpers agree with each other."""

import pytest
import torch

from amemory.validate import check_finite_tensor, check_tensor


def test_check_finite_tensor_is_check_tensor_any():
    """check_finite_tensor is check_tensor(kind='any', allow_empty=True): same acceptances, same messages."""
    good = [torch.zeros(0), torch.ones(2, 3), torch.arange(4), torch.tensor([True, False]), torch.ones(3).float()]
    for t in good:
        assert check_finite_tensor("x", t) is t
        assert check_tensor("x", t, kind="any", allow_empty=True) is t
    bad = [
        ([1.0, 2.0], {}, "x must be a torch tensor"),
        (torch.tensor([1.0, float("nan")]), {}, "x must be finite"),
        (torch.tensor([1.0, -1.0]), {"nonneg": True}, "x must be non-negative"),
        (torch.ones(2, dtype=torch.complex64), {}, "x must be a tensor of a real dtype"),
    ]
    for t, kw, msg in bad:
        for f in (check_finite_tensor, lambda n, v, **k: check_tensor(n, v, kind="any", allow_empty=True, **k)):
            with pytest.raises(ValueError, match=msg):
                f("x", t, **kw)
