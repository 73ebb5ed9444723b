"""Marts: one SELECT per mart in sql/, rebuilt when its inputs change, inserted by column name."""
