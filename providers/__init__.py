"""DNS back ends behind one interface, zone discovery and the embedded DNS server."""
