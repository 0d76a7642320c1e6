"""Token IG through the engine's embed site: complete, for a causal LM and a classifier; hooks removed."""

import models
import pytest
import torch

from interpwidgets.saliency.tokens import token_attributions


def ids(text, **kw):
    return {"input_ids": torch.tensor([[int(c) for c in text.split()]])}


def test_lm_next_token_attributions_are_complete():
    lm = models.gpt2()
    (a,) = token_attributions(lm, ids, ["3 7 11 5"], baseline=0, steps=64, rule="trapezoid", progress=False)
    assert len(a.values) == 4 and abs(a.gap) < 0.02
    with torch.no_grad():
        assert a.target == int(lm(ids("3 7 11 5")["input_ids"]).logits[0, -1].argmax())
    models.assert_engine_clean(lm)


def test_classifier_class_and_bad_target():
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    clf = BertForSequenceClassification(BertConfig(num_hidden_layers=2, hidden_size=32, num_attention_heads=4,
                                                   intermediate_size=64, vocab_size=100, num_labels=3)).eval()
    (a,) = token_attributions(clf, ids, "4 8 15 16", target=2, baseline=0, steps=64, rule="trapezoid", output="logit",
                              progress=False)
    assert a.target == 2 and abs(a.gap) < 0.02
    with pytest.raises(ValueError, match="out of range: the model has 3 classes"):
        token_attributions(clf, ids, "4 8", target=3, progress=False)
    models.assert_engine_clean(clf)
