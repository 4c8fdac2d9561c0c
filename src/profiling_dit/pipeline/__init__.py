"""Running a stock diffusers pipeline: loading it (``loading``), generating with it, timed, to exact uint8
frames (``generation``, ``timing``), and writing videos (``video_io``)."""
