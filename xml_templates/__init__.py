"""Static skeleton XML documents, installed as package data (libvirt_vnet.xml_templates)."""
