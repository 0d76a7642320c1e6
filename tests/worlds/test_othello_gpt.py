"""Othello-GPT's side of the world: the whole-game trace, game parsing, the paper's vocabulary, the minGPT
loader (checked against a forward pass written here from the minGPT layout), the vocabulary check, the
legal-move measure, and resumable training."""

import contextlib
import json
import math
import threading

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from interpwidgets.worlds.othello import (
    SQUARE_OF_TOKEN,
    TOKEN_OF_SQUARE,
    check_vocabulary,
    config,
    encode,
    from_mingpt,
    legal_top1_error,
    next_move_logits,
    parse_game,
    random_games,
    replay,
    square,
    squares,
    trace,
)


def test_the_trace_of_many_games_is_each_game_replayed():
    games = random_games(60, seed=4)
    tr = trace(games)
    assert (tr.length == (games >= 0).sum(1)).all()
    passes = 0
    for i, game in enumerate(games):
        boards = replay(game)
        for t, b in enumerate(boards):
            if t < tr.length[i] and b.legal()[0] == 0:  # a pass: the trace hands the move over already
                b, passes = b.passed(), passes + 1
            assert (tr.grid[i, t] == b.grid()[0]).all()
            if t < tr.length[i]:
                assert tr.player[i, t] == b.player[0] and tr.legal[i, t] == b.legal()[0]
        assert tr.legal[i, tr.length[i]] == 0  # a finished game has no next move
        # ...and no pass at its end: the turn stays as the moves alternate (mine/theirs labels read it)
        assert tr.player[i, tr.length[i]] == boards[-1].player[0]
    assert passes > 0  # the games have passes in them, so the handover was checked
    mask = tr.legal_mask()
    assert mask.shape == (60, 61, 64) and mask[0, 0].sum() == 4


def test_a_bad_game_names_its_first_bad_move():
    with pytest.raises(ValueError, match="game 1, move 4: 19 after the end"):
        trace(np.array([[19, 18, 17, -1], [19, 18, -1, 19]]))
    with pytest.raises(ValueError, match="game 0, move 2: -5 after the end or not a square"):
        trace(np.array([[19, -5]]))
    assert parse_game("d3 c5 F6") == [square("D3"), square("C5"), square("F6")]
    assert parse_game([26, "C5"]) == [26, 20]
    with pytest.raises(ValueError, match=r"move 2: D3 is not legal \(legal: \['C3', 'C5', 'E3'\]\)"):
        parse_game("d3 d3")
    with pytest.raises(ValueError, match="move 1: square 'z9'"):
        parse_game("z9")
    with pytest.raises(ValueError, match="move 3: 64 is not a square"):
        parse_game([26, 20, 64])
    with pytest.raises(ValueError, match="game 1, move 1: A1 is not legal"):
        trace(np.array([[26, -1], [0, -1]]))


def test_the_vocabulary_is_the_papers():
    # token 0 pads; 1..60 are the playable squares in order, skipping the four centre squares
    assert SQUARE_OF_TOKEN[1] == square("A1") and SQUARE_OF_TOKEN[60] == square("H8")
    assert SQUARE_OF_TOKEN[27] == square("D3") and SQUARE_OF_TOKEN[28] == square("D6")  # D4, D5 skipped
    assert sorted(SQUARE_OF_TOKEN[1:]) == [s for s in range(64) if s not in (27, 28, 35, 36)]
    assert (TOKEN_OF_SQUARE[SQUARE_OF_TOKEN[1:]] == np.arange(1, 61)).all()
    assert encode([[26, 20, -1]]).tolist() == [[27, 21, 0]]
    with pytest.raises(ValueError, match="centre four"):
        encode([[27]])


def _mingpt_state(n_layer=2, d=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    r = lambda *shape: torch.randn(*shape, generator=g) * 0.3  # noqa: E731
    state = {"tok_emb.weight": r(61, d), "pos_emb": r(1, 59, d), "ln_f.weight": 1 + r(d), "ln_f.bias": r(d),
             "head.weight": r(61, d)}
    for i in range(n_layer):
        b = f"blocks.{i}."
        for ln in ("ln1", "ln2"):
            state[b + f"{ln}.weight"], state[b + f"{ln}.bias"] = 1 + r(d), r(d)
        for n in ("query", "key", "value", "proj"):
            state[b + f"attn.{n}.weight"], state[b + f"attn.{n}.bias"] = r(d, d), r(d)
        state[b + "attn.mask"] = torch.tril(torch.ones(59, 59)).view(1, 1, 59, 59)
        state[b + "mlp.0.weight"], state[b + "mlp.0.bias"] = r(4 * d, d), r(4 * d)
        state[b + "mlp.2.weight"], state[b + "mlp.2.bias"] = r(d, 4 * d), r(d)
    return state


def _mingpt_forward(state, idx, n_head):
    """The minGPT model of the paper's code, as its layout says, written out here with plain torch ops."""
    lin = lambda x, p: x @ state[p + ".weight"].T + state[p + ".bias"]  # noqa: E731
    ln = lambda x, p: F.layer_norm(x, x.shape[-1:], state[p + ".weight"], state[p + ".bias"])  # noqa: E731
    T = idx.shape[1]
    x = state["tok_emb.weight"][idx] + state["pos_emb"][:, :T]
    n_layer = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("blocks."))
    for i in range(n_layer):
        b = f"blocks.{i}."
        y = ln(x, b + "ln1")
        C = y.shape[-1]
        q, k, v = (lin(y, b + f"attn.{n}").view(-1, T, n_head, C // n_head).transpose(1, 2)
                   for n in ("query", "key", "value"))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(C // n_head)
        att = att.masked_fill(torch.tril(torch.ones(T, T)) == 0, float("-inf")).softmax(-1)
        x = x + lin((att @ v).transpose(1, 2).reshape(-1, T, C), b + "attn.proj")
        x = x + lin(F.gelu(lin(ln(x, b + "ln2"), b + "mlp.0")), b + "mlp.2")
    return ln(x, "ln_f") @ state["head.weight"].T


def test_the_papers_checkpoint_runs_in_the_hf_class():
    state = _mingpt_state()
    model = from_mingpt({f"module.{k}": v for k, v in state.items()}, n_head=4)  # as DataParallel saves it
    idx = torch.from_numpy(encode(random_games(3, seed=2)[:, :59]))
    idx[idx == 0] = 1  # minGPT has no attention mask: compare on full-length sequences
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=idx).logits, _mingpt_forward(state, idx, 4), atol=1e-4, rtol=1e-4)
    assert model.config.n_layer == 2 and model.config.n_head == 4 and not model.config.tie_word_embeddings


def test_a_state_dict_of_another_layout_is_refused_with_its_keys():
    state = _mingpt_state()
    with pytest.raises(ValueError, match="not a minGPT Othello state dict"):
        from_mingpt({"transformer.wte.weight": state["tok_emb.weight"]})
    with pytest.raises(ValueError, match=r"does not have \['blocks.0.extra'\]"):
        from_mingpt({**state, "blocks.0.extra": torch.zeros(1)}, n_head=4)
    with pytest.raises(ValueError, match="reads 50 tokens"):
        from_mingpt({**state, "tok_emb.weight": torch.zeros(50, 16)}, n_head=4)
    with pytest.raises(ValueError, match=r"\(0 blocks\)"):
        from_mingpt({k: v for k, v in state.items() if not k.startswith("blocks.")}, n_head=4)
    del state["blocks.1.mlp.2.bias"]
    with pytest.raises(ValueError, match=r"missing \['blocks.1.mlp.2.bias'\]"):
        from_mingpt(state, n_head=4)
    del state["blocks.0.attn.mask"]  # the mask buffer may be left out of a saved state dict
    state["blocks.1.mlp.2.bias"] = torch.zeros(16)
    assert from_mingpt(state, n_head=4).config.n_layer == 2


def test_a_model_of_another_vocabulary_is_refused():
    from transformers import GPT2Config, GPT2LMHeadModel

    other = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=100))
    with pytest.raises(ValueError, match="reads 100 tokens over 1024 positions; an Othello-GPT reads 61"):
        check_vocabulary(other)
    with pytest.raises(ValueError, match="an Othello-GPT reads 61"):
        legal_top1_error(other, random_games(2))


class _Oracle(torch.nn.Module):
    """Logits that put the top score on a legal next move (``legal=True``) or on an occupied square."""

    def __init__(self, games, legal: bool):
        super().__init__()
        self.config = config(1, 1, 8)
        self.w = torch.nn.Parameter(torch.zeros(1))
        mask = np.zeros((len(games), 59, 64), bool)  # from replay, one game at a time, not from trace
        for i, game in enumerate(games):
            for t, board in enumerate(replay(game)[1:60]):  # the board after move t is read at position t
                if legal:  # after a pass, the other player's moves
                    mask[i, t, squares(board.legal()[0] or board.passed().legal()[0])] = True
                else:
                    mask[i, t] = board.grid()[0].reshape(64) != 0
        scores = np.where(mask, 1.0, 0.0)[..., SQUARE_OF_TOKEN[1:]]
        self.logits = torch.from_numpy(np.concatenate([np.zeros((*scores.shape[:2], 1)), scores], -1)).float()

    def forward(self, input_ids, **kw):
        n = input_ids.shape[0]
        out, self.logits = self.logits[:n], self.logits[n:]
        return type("Out", (), {"logits": out[:, :input_ids.shape[1]]})


def test_the_legal_move_error_counts_illegal_top_moves():
    games = random_games(20, seed=7)
    assert legal_top1_error(_Oracle(games, legal=True), games)[0] == 0.0
    rate, per_game = legal_top1_error(_Oracle(games, legal=False), games)
    assert rate == 1.0 and (per_game == 1.0).all()  # an occupied square is never legal
    logits = next_move_logits(_Oracle(games, legal=True), games)
    assert torch.isinf(logits[..., [27, 28, 35, 36]]).all()


class _StopAfter:
    def __init__(self, n):
        self.n = n

    def is_set(self) -> bool:
        self.n -= 1
        return self.n < 0


def test_the_legal_moves_loss_is_the_next_move_loss_averaged_over_the_legal_moves():
    from transformers import GPT2LMHeadModel

    from interpwidgets.worlds.othello.engine import squares
    from interpwidgets.worlds.othello.train import loss

    torch.manual_seed(0)
    model = GPT2LMHeadModel(config(1, 2, 16)).eval()
    games = random_games(3, seed=8)
    games[2, 20:] = -1  # a short game: its padding has no next move
    logp = model(input_ids=torch.from_numpy(encode(games))[:, :-1]).logits.log_softmax(-1)
    want = []
    for i, game in enumerate(games):
        for t, board in enumerate(replay(game)[1:-1]):  # after move t comes move t + 1, if the game goes on
            if board.legal()[0] == 0:
                board = board.passed()
            moves = squares(board.legal()[0])
            want.append(-np.mean([logp[i, t, TOKEN_OF_SQUARE[m]].item() for m in moves]))
    with torch.no_grad():
        assert loss(model, games, "legal moves").item() == pytest.approx(np.mean(want), rel=1e-5)
        assert loss(model, games, "next move").item() != pytest.approx(np.mean(want), rel=1e-3)
    with pytest.raises(ValueError, match="unknown target 'moves'"):
        loss(model, games, "moves")


def test_training_stops_saves_resumes_and_goes_on_with_a_new_stage(tmp_path, monkeypatch):
    from interpwidgets.worlds.othello import load, train

    first = dict(target="next move", steps=6, warmup=2, lr=1e-3, min_lr=1e-4)
    recipe = dict(n_layer=1, n_head=2, n_embd=16, batch=8, stages=[first])
    monkeypatch.setattr(train, "CHOOSE_GAMES", 10)
    monkeypatch.setattr(train, "stop_on_sigterm", lambda: contextlib.nullcontext(_StopAfter(3)))
    state = train.train(tmp_path / "out", tmp_path / "work", recipe=recipe, log_every=2)
    assert state["step"] == 3 and (tmp_path / "work" / "state.pt").exists()
    assert json.loads((tmp_path / "out" / "training_state.json").read_text())["step"] == 3
    monkeypatch.setattr(train, "stop_on_sigterm", lambda: contextlib.nullcontext(threading.Event()))
    longer = {**recipe, "stages": [first, {**first, "target": "legal moves", "steps": 2}]}
    with pytest.raises(ValueError, match="another recipe"):  # an unfinished run takes no new stage
        train.train(tmp_path / "out", tmp_path / "work", recipe=longer)
    state = train.train(tmp_path / "out", tmp_path / "work", recipe=recipe, log_every=2)
    assert state["step"] == 6 and [s for s, _ in state["choose_error"]] == [2, 4, 6]
    model = load(tmp_path / "out")
    assert next(model.parameters()).dtype == torch.float32 and model.config.n_layer == 1
    (tmp_path / "work" / "state.pt").unlink()  # only the fp16 checkpoint left: it resumes from that
    assert train.train(tmp_path / "out", tmp_path / "work", recipe=recipe)["step"] == 6
    weights = torch.load(tmp_path / "work" / "state.pt", weights_only=False)["model"]
    for k, v in model.state_dict().items():
        torch.testing.assert_close(weights[k].half().float(), v)
    with pytest.raises(ValueError, match="another recipe"):
        train.train(tmp_path / "out", tmp_path / "work", recipe={**recipe, "stages": [{**first, "lr": 0.1}]})
    state = train.train(tmp_path / "out", tmp_path / "work", recipe=longer, log_every=2)  # finished: a new stage
    assert state["step"] == 8 and state["recipe"] == {**train.RECIPE, **longer}
    assert [s for s, _ in state["choose_error"]] == [2, 4, 6, 8]
    assert train.learning_rate(longer, 6) == pytest.approx(5e-4) and train.stage_at(longer, 7)[0]["steps"] == 2
