print("memtype: not yet")
