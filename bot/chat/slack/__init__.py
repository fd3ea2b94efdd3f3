"""Slack: the bot (``client``: slack-bolt, the text commands, the sender), its
markup (``render``: pure) and ``alertbot slack …`` (``cli``). Importing the
package loads nothing: each module is imported when used."""
