"""Tests of the hub server: names, rules, authorisation and services."""
