"""The roles a bearer token can carry. Pure: the domain layers import it without pulling in HTTP or JWT."""

from enum import StrEnum


class Role(StrEnum):
    OPERATOR = "operator"  # 12345 话务员
    TOWN = "town_dispatcher"  # 镇/街道 指挥中心
    COUNTY = "county_dispatcher"  # 县级指挥中心
    CITY = "city_dispatcher"  # 市级指挥中心
    DEPARTMENT = "department"  # 职能部门 handling its own orders
    ADMIN = "admin"  # topology, API keys
