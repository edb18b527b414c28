"""The scripted brain's ``shop`` skill (:mod:`.skill`) and its words, slots and phrases."""
