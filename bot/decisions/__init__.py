"""Every apply, clip, skip and hold the bot makes, with the rule that made it.

Why one package: a reviewer asking "why did prod not get this?" should find the answer in
one place, and a new rule should have one place to go. The stages around it gather facts
(the planner: recommendations, policy, manifests; publishing: the forge's PRs and the
branches' commits) and carry the decisions out; none of them decides.

- `model`: a rule hit and a decision, the vocabulary every stage reads.
- `values`: each recommended value against the policy's guardrails (apply, clip, skip).
- `order`: `environment_order`, a change waiting for an earlier environment.
- `overrides`: reviewers' commands (ignore, snooze, pin), the last word on a value.
- `holds`: whether a PR group is published this run (freeze, saving, reviewers, limits).

The modules are imported by their own names (`from bot.decisions.values import decide`):
the planner reads `values` and `holds` reads the plan, so a package that imported all of them
at once would be a cycle.
"""
