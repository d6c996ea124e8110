"""The experiment store: one relational memory shared by every agent, process and machine."""
