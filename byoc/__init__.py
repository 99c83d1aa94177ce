"""What runs on a laptop: local runs, the image, and the way to SageMaker."""
