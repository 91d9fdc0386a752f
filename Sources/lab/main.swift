import LabKit
print("lab: not yet")
