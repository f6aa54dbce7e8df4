
import pytest

from nasrec.registry import Registry


def test_register_get_and_errors():
    reg: Registry[int] = Registry("widget")

    @reg.register("a")
    def a():
        return 1

    assert reg.get("a") is a and reg.names() == ["a"] and "a" in reg
    with pytest.raises(ValueError, match=r"^widget 'a' is already registered$"):
        reg.register("a")(a)
    with pytest.raises(ValueError, match=r"^unknown widget 'b' \(known: a\)$"):
        reg.get("b")


def test_entry_points_are_loaded_on_first_miss(monkeypatch):
    reg: Registry[str] = Registry("plug-in", "nasrec.test-plugins")
    loaded = []

    class EntryPoint:
        def load(self):
            reg["late"] = "x"
            loaded.append(1)

    monkeypatch.setattr("nasrec.registry.entry_points",
                        lambda group: [EntryPoint()] if group == "nasrec.test-plugins" else [])
    assert reg.get("late") == "x" and loaded == [1]
    reg.names()
    assert loaded == [1]  # loaded once
