"""ITI's costs: cross-entropy and KL against a hand computation, and growing with alpha."""

import models
import torch

from interpwidgets.iti import ITI
from interpwidgets.iti.metrics import edit_costs


def test_costs_match_a_hand_computation_and_grow_with_alpha():
    model = models.gpt2()
    g = torch.Generator().manual_seed(1)
    rows = [{"input_ids": torch.randint(3, 100, (n,), generator=g).tolist()} for n in (9, 5, 12)]
    iti = ITI.from_activations(torch.randn(200, 2, 4, 8, generator=g), torch.arange(200) % 2, k=4)
    costs = edit_costs(model, iti, rows, [0.0, 2.0, 8.0, 32.0], batch_size=2, progress=False)
    # alpha 0 is the plain model: its mean next-token loss over the 8 + 4 + 11 predicted tokens
    with torch.no_grad():
        nll = sum(model(torch.tensor([r["input_ids"]]), labels=torch.tensor([r["input_ids"]])).loss.item()
                  * (len(r["input_ids"]) - 1) for r in rows)
    assert abs(costs["cross_entropy"][0] - nll / 23) < 1e-5
    assert costs["kl"][0] == 0.0
    assert costs["kl"] == sorted(costs["kl"]) and costs["kl"][1] > 0  # the further the push, the further away
    # by hand for alpha 8: KL(plain || edited) of every next-token distribution, averaged over the 23
    kl = 0.0
    for r in rows:
        ids = torch.tensor([r["input_ids"]])
        with torch.no_grad():
            p = model(ids).logits[0, :-1].log_softmax(-1)
            with iti.apply(model, 8.0):
                q = model(ids).logits[0, :-1].log_softmax(-1)
        kl += (p.exp() * (p - q)).sum().item()
    assert abs(costs["kl"][2] - kl / 23) < 1e-5
