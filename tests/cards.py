"""What the model-card tests share: a card measured again, compared with the shipped one."""


def assert_close(measured, card, tol: float, relative: bool = False, skip: tuple = (), path: str = "") -> None:
    """Every number of ``measured`` within ``tol`` of ``card``'s (relative to its size, at least 1, with
    ``relative``), the same keys and lists, strings and booleans equal; keys in ``skip`` are not compared
    (a timing)."""
    if isinstance(measured, dict):
        assert set(measured) == set(card), path
        for k in measured:
            if k not in skip:
                assert_close(measured[k], card[k], tol, relative, skip, f"{path}.{k}")
    elif isinstance(measured, list):
        assert len(measured) == len(card), path
        for i, (x, y) in enumerate(zip(measured, card, strict=True)):
            assert_close(x, y, tol, relative, skip, f"{path}[{i}]")
    elif isinstance(measured, bool | str) or measured is None:
        assert measured == card, path
    else:
        room = tol * max(1, abs(card)) if relative else tol
        assert abs(measured - card) <= room, f"{path}: measured {measured}, the card says {card}"
