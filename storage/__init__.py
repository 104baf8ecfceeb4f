"""Peewee models, migrations, database URLs and secret encryption."""
