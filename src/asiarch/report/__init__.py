"""What a campaign found, for readers: the discovery curve's numbers (``curve``) and its plot (``render``)."""
