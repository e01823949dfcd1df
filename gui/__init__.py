"""The interactive annotation tool: MiVOS's GUI as a local web app over `inference.Session`."""
