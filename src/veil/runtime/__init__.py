"""Running a compiled program: a server's session, a party's session, the local launcher."""
