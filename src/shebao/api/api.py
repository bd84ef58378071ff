from ninja import NinjaAPI

api = NinjaAPI(title="社保合规助手 API", version="1", urls_namespace="api")
