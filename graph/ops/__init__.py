"""What operators look at and configure: health, metrics, where Redis is."""
