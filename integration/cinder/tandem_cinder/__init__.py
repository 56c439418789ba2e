"""Tandem's OpenStack Cinder volume driver (``tandem_cinder.driver.TandemDriver``)."""
