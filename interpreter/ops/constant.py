"""(placeholder: ops are being added to this module.)"""
