"""Discord: the bot (``client``: discord.py, slash commands, the sender), its
markup (``render``: pure) and ``alertbot discord …`` (``cli``). Importing the
package loads nothing: each module is imported when used."""
