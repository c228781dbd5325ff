"""Every registered extension exists, carries its name, and meets its contract."""

import inspect
import subprocess
import sys

from bot.forges.base import Forge
from bot.forges.hooks import Hooks
from bot.forges.registry import FORGES
from recommenders.strategies import STRATEGIES, Strategy


def _meets(cls: type, protocol: type) -> list[str]:
    """Members the class lacks; attributes an instance sets in __init__ are read from it."""
    wanted = [name for name in dir(protocol) if not name.startswith("_")]
    wanted += list(getattr(protocol, "__annotations__", {}))
    init = inspect.getsource(cls.__init__) if "__init__" in vars(cls) else ""
    return [n for n in wanted if not hasattr(cls, n) and f"self.{n} =" not in init]


def test_every_strategy_is_registered_under_its_name_and_meets_the_contract():
    assert "default" in STRATEGIES
    for name, cls in STRATEGIES.items():
        assert cls.name == name
        assert _meets(cls, Strategy) == []
        assert list(inspect.signature(cls.size).parameters) == [
            "self",
            "history",
            "metric",
            "horizon",
            "served",
        ]
        assert cls.description and cls().settings == cls.settings_type()


def test_every_forge_is_registered_under_its_name_and_meets_the_contract():
    assert {"local", "github", "gitlab"} <= set(FORGES)
    for name, kind in FORGES.items():
        assert kind.name == kind.forge.name == name
        assert _meets(kind.forge, Forge) == []
        if kind.hooks is not None:
            assert kind.hooks.name == name
            assert _meets(kind.hooks, Hooks) == []


def test_a_command_imports_no_forge_client_until_it_speaks_to_a_forge():
    code = (
        "import sys, bot.cli, bot.pipeline\n"
        "clients = {'github', 'gitlab', 'bot.forges.github', 'bot.forges.gitlab'}\n"
        "print(sorted(clients & set(sys.modules)))\n"
        "from bot.forges.registry import FORGES\n"
        "FORGES['github']\n"
        "print('github' in sys.modules, 'gitlab' in sys.modules)\n"
    )
    assert _printed(code) == ["[]", "True", "False"]


def test_asking_whether_a_forge_exists_imports_nothing_and_hides_no_error():
    code = (
        "import sys\n"
        "from bot.forges.registry import FORGES\n"
        "print('github' in FORGES, 'bitbucket' in FORGES, 'github' in sys.modules)\n"
    )
    assert _printed(code) == ["True", "False", "False"]


def _printed(code: str) -> list[str]:
    """What `code` prints, word by word, run in a fresh interpreter: what it imports is
    then its own, not what earlier tests left in this one."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.split()
