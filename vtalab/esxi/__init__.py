"""ESXi hosts: images, releases, boot (full vs Quick Boot) and the image database export."""
