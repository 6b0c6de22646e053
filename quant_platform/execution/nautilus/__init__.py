"""NautilusTrader execution of strategy blueprints (needs the optional ``[nautilus]`` extra).

- :mod:`.config` — ``EventRuleStrategyConfig``, the frozen ``StrategyConfig`` a blueprint's ``config`` decodes to;
- :mod:`.strategy` — ``EventRuleStrategy``, the rule as an incremental evaluator over the event registry;
- :mod:`.data` — ``RegistryEvent``, the event registry as NautilusTrader custom data;
- :mod:`.load` — blueprint line → ``ImportableStrategyConfig`` → ``StrategyFactory``;
- :mod:`.backtest` — one blueprint in NautilusTrader's ``BacktestEngine`` on our bars;
- :mod:`.parity` — the same blueprint in our engine and in NautilusTrader, fill by fill.
"""
