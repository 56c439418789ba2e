"""Tandem's Cinder volume driver: tandem_cinder.driver.TandemDriver."""
