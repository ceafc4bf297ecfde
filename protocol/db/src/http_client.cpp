// The Beast HTTP client (being written).
