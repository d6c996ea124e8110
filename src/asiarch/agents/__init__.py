"""The agents: Researcher (proposes), Engineer (gates, repairs, trains), Analyst (judges)."""
