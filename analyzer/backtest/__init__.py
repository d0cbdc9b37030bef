"""`analyze backtest`: replaying the window under other timeouts."""
