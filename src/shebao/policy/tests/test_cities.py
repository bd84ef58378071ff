import pytest

from shebao.core.exceptions import ApplicationError
from shebao.policy.models import City
from shebao.policy.selectors import city_resolve

pytestmark = pytest.mark.django_db


def test_migrate_loads_prefecture_level_cities():
    assert City.objects.count() > 300
    for code, name in [
        ("110000", "北京市"),
        ("310000", "上海市"),
        ("440300", "深圳市"),
        ("440100", "广州市"),
        ("510100", "成都市"),
        ("500000", "重庆市"),
    ]:
        assert City.objects.get(code=code).name == name
    assert not City.objects.filter(name__in=["市辖区", "县"]).exists()
    assert not City.objects.filter(code="110100").exists()  # municipalities are one pooling area


@pytest.mark.parametrize("text", ["深圳", "深圳市", "440300", " 深圳 "])
def test_city_resolve(text):
    assert city_resolve(text).code == "440300"


def test_city_resolve_unknown():
    with pytest.raises(ApplicationError, match="未知城市“Gotham”"):
        city_resolve("Gotham")
