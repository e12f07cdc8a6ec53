"""The issues job: attempts and ignored events → issues (opened, updated, resolved),
notifications delivered as events, and the pause action."""
